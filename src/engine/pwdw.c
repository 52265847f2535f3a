/*
 * engine_pwdw.c: a 1x1 convolution with the 3x3 depthwise convolutions on
 * either side of it (stride 1 before, stride 2 after), run together a row
 * at a time, forward and backward (contract in engine_internal.h, "1x1
 * and stride-2 depthwise").
 *
 * MobileNet V1 repeats depthwise (stride 1) -> 1x1 -> depthwise (stride 2)
 * three times (Conv2d_1, _3 and _5_pointwise at the center).  Layer by
 * layer, each tensor between them goes to memory and back twice (written
 * by one step, read by the next; likewise its gradient), and on a 576 x
 * 576 tile they are 5-21 MB: these layers waited on memory more than they
 * computed.  Here only the triple's input and output, and what the
 * backward needs (derivative bits, masks), are stored:
 *   - forward: each thread takes a range of the stride-2 output rows and
 *     makes the 1x1 rows they need into a ring of three rows (in cache),
 *     each from its depthwise row (made from the input's three rows, bias
 *     first, then the taps in (ky, kx) order, skipping the padding, then
 *     clipped), then the stride-2 row from the ring, clipped, stored, and
 *     its byte mask written on the way when the next layer folds it
 *     (engine_mask.c).  The 1x1 rows are engine_pw.c's loop, writing the
 *     derivative bits of its activation and of its input as before; the
 *     one 1x1 row two threads both need is made by both and kept by one.
 *   - backward: each thread takes a range of rows of the triple's input
 *     gradient: per 1x1 row, the stride-2 backward-data (the taps that
 *     reach it, in (ky, kx) order) times the 1x1's derivative, staged in
 *     cache, then engine_pw.c's 1x1 backward into a ring of three rows of
 *     the depthwise gradient (times its derivative), then the stride-1
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
 * does the first convolution, where it is ours (engine_stem.c), before
 * Conv2d_1_depthwise: its rows and byte mask made in the ring, and in the
 * backward its rows' Z (two kept: an image row pair reads the row before)
 * made from the staged depthwise gradient, writing the pixel gradient; a
 * thread's first row's Z is made from the row before its range.
 *
 * Measured on a 576 x 576 MobileNet V1 tile to Conv2d_9_pointwise, 2
 * threads, scripts/bench-engine.sh --tile 576, 3 alternating runs of 20
 * against the engine without these steps: forward + backward 28.4-28.9 ->
 * 26.0-26.2 ms.  The steps themselves (forward, backward): Conv2d_1 1.54,
 * 1.42 ms (oneDNN's and ours layer by layer: 3.0, 2.6), _3 1.90, 2.10 (2.7,
 * 2.9), _5 1.62, 1.75 (1.8, 2.1); the 1x1 sums run at 85-95% of the FMA
 * peak with their input in cache.  The head 1x1s: 25.7-27.6 -> 25.4-27.4
 * ms in a fast spell of the machine, 28.2-28.9 -> 26.5-27.1 in a slow one
 * (the less memory traffic, the less neighbours' load slows the tile); the
 * heads and the first convolution together, against the triples alone, 4
 * alternating runs: 25.45-25.87 -> 24.43-24.83 ms.  The renderer's peak
 * memory on jobs/bench-2048.ini: 387 -> 326 MB.
 *
 * Only: f32; the 1x1 node's forward is ours (engine_pw.c) and the stride-2
 * depthwise is its one reader, groups = channels = a multiple of 16 up to
 * ENG_PWDW_MAX_O, 3x3, no dilation, padding before at most 1, a bias,
 * ReLU, ReLU6 or no activation, 16-channel blocked layouts with dense rows;
 * the stride-1 one as eng_pwdw_fwd_plan says.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "gigadream/error.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_PWDW 1
#endif

int eng_pwdw_reader(const gd_engine *e, int k)
{
#ifdef HAVE_PWDW
    const gd_node *n = &e->model->nodes[k];
    if (e->dt != dnnl_f32 || n->op != GD_OP_CONV || n->n_inputs != 1 || !n->bias ||
        n->inputs[0] <= 0)
        return 0;
    const int c = e->nodes[n->inputs[0]].shape.c;
    return n->groups == c && n->out_c == c && c % 16 == 0 && c <= ENG_PWDW_MAX_O && n->kh == 3 &&
           n->kw == 3 && n->sh == 2 && n->sw == 2 && n->dh == 1 && n->dw == 1 &&
           (n->act == GD_ACT_NONE || n->act == GD_ACT_RELU || n->act == GD_ACT_RELU6);
#else
    (void)e;
    (void)k;
    return 0;
#endif
}

/* Depthwise node d's shape (see above), reading p = its input, whose
 * forward is ours (its weights transposed, its derivative bits). */
static int dw_shape(const gd_engine *e, int d)
{
    if (!eng_pwdw_reader(e, d))
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
    return eng_blocked16(&e->nodes[d].md, out.w, &l);
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
 * too: f32 3x3 stride 1, padding 1 all round, groups = channels = a
 * multiple of 16, a bias, ReLU or ReLU6 whose derivative p's forward keeps
 * as bits, p its one reader, not an output, reading a node s > 0 whose
 * activation is 16-channel blocked with dense rows.  Returns s, or -1.
 */
static int pre_input(const gd_engine *e, int p)
{
#ifdef HAVE_PWDW
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
    for (int q = 0; q < e->n_outputs; q++)
        if (e->outputs[q] == j)
            return -1;
    eng_layout l;
    return eng_blocked16(&e->nodes[s].md, in.w, &l) ? s : -1;
#else
    (void)e;
    (void)p;
    return -1;
#endif
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
    eng_step_list *l = &e->fwd;
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
    } else if (!eng_pw_head_ok(e, s) ||
               !prim_step(l, l->n - 2, s, e->nodes[h].act, e->nodes[s].act)) {
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
        !eng_blocked16(&e->nodes[h].dmd, e->nodes[h].shape.w, &l))
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
        !eng_blocked16(&e->nodes[s].dmd, e->nodes[s].shape.w, &l))
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
    return GD_OK;
}

gd_status eng_pwdw_bwd_plan(gd_engine *e, int d, int *fused, gd_err *err)
{
    *fused = 0;
    if (!dw_shape(e, d))
        return GD_OK;
    const int p = e->model->nodes[d].inputs[0];
    eng_layout l;
    if (!e->nodes[d].diff || !eng_blocked16(&e->nodes[d].dmd, e->nodes[d].shape.w, &l) ||
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
    /* p's backward step reads diff[d]: p's own gradient is never made. */
    e->nodes[p].diff_started = 1;
    *fused = 1;
    return GD_OK;
}

#ifdef HAVE_PWDW
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,fma")

/* The depthwise side of either loop. */
typedef struct dw_args {
    int h1, w1, o; /* the 1x1 layer's rows, columns, channels */
    int h2, w2;    /* the depthwise layer's */
    int pt, pl;    /* its padding before */
    const float *taps, *bias;
    float lo, hi;  /* the activation's clip (-inf, inf for none) */
    float *y;      /* d's activation, layout ly */
    uint8_t *mask; /* its byte mask (same layout), or NULL */
    eng_layout ly;
    const float *g; /* d's gradient, layout lg */
    eng_layout lg;
    const uint16_t *bits; /* p's derivative bits, [o / 16][h1 * w1] */
} dw_args;

static void dw_setup(const gd_engine *e, int d, dw_args *a)
{
    const gd_node *n = &e->model->nodes[d];
    const int p = n->inputs[0];
    int pt, pb, pl, pr;
    gd_node_padding(n, e->nodes[p].shape, &pt, &pb, &pl, &pr);
    *a = (dw_args){.h1 = e->nodes[p].shape.h,
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
        eng_blocked16(&e->nodes[d].md, a->w2, &a->ly);
    }
    if (e->nodes[d].mask_buf >= 0)
        a->mask = e->bufs[e->nodes[d].mask_buf].ptr;
    if (e->nodes[d].diff && e->nodes[d].diff_buf >= 0) {
        a->g = e->bufs[e->nodes[d].diff_buf].ptr;
        eng_blocked16(&e->nodes[d].dmd, a->w2, &a->lg);
    }
}

/* Block cb's 9 taps of a [9][channels] kernel, and [*x0, *x1) clipped to [0, n) (x0 <= x1). */
static inline void dw_taps_of(const float *taps, int channels, int cb, __m512 w[9])
{
    for (int k = 0; k < 9; k++)
        w[k] = _mm512_loadu_ps(taps + (size_t)k * channels + cb * 16);
}

static inline void clip_range(int *x0, int *x1, int n)
{
    *x1 = *x1 < n ? *x1 : n;
    *x0 = *x0 < *x1 ? *x0 : *x1;
}

/* Output pixel ox of block cb, every tap checked (the row's edges). */
static inline __m512 dw_fwd_edge(const dw_args *a, const float *const r[3], const __m512 *w,
                                 __m512 acc, int ox)
{
    const int ix0 = 2 * ox - a->pl;
    for (int ky = 0; ky < 3; ky++) {
        if (!r[ky])
            continue;
        for (int kx = 0; kx < 3; kx++) {
            const int ix = ix0 + kx;
            if (ix >= 0 && ix < a->w1)
                acc =
                    _mm512_fmadd_ps(_mm512_loadu_ps(r[ky] + (size_t)ix * 16), w[ky * 3 + kx], acc);
        }
    }
    return acc;
}

/* Clipped, stored, and its mask on the way. */
static inline void dw_fwd_store(const dw_args *a, dnnl_dim_t at, __m512 acc)
{
    const __m512 zero = _mm512_setzero_ps(), hi = _mm512_set1_ps(a->hi);
    acc = _mm512_min_ps(_mm512_max_ps(acc, _mm512_set1_ps(a->lo)), hi);
    _mm512_storeu_ps(a->y + at, acc);
    if (a->mask) {
        __mmask16 k =
            _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(acc, zero, _CMP_GT_OQ), acc, hi, _CMP_LT_OQ);
        _mm_storeu_si128((__m128i *)(a->mask + at), _mm_maskz_mov_epi8(k, _mm_set1_epi8(1)));
    }
}

/* Output row oy of the depthwise forward, from the ring's rows of the 1x1
 * activation (row r at ring + (r % 3) * w1 * o, [o / 16][w1][16]): per
 * pixel, the bias, then the taps in (ky, kx) order, skipping the padding. */
static void dw_fwd_row(const dw_args *a, const float *ring, int oy)
{
    const size_t row = (size_t)a->w1 * a->o;
    /* Pixels whose 3 columns are all inside: [x0, x1). */
    int x0 = (a->pl + 1) / 2, x1 = (a->w1 - 3 + a->pl) / 2 + 1;
    clip_range(&x0, &x1, a->w2);
    for (int cb = 0; cb < a->o / 16; cb++) {
        __m512 w[9];
        dw_taps_of(a->taps, a->o, cb, w);
        const __m512 b = _mm512_loadu_ps(a->bias + cb * 16);
        const float *r[3], *rv[3];
        const __m512 *wv[3];
        int nr = 0;
        for (int ky = 0; ky < 3; ky++) {
            int iy = 2 * oy - a->pt + ky;
            r[ky] = iy >= 0 && iy < a->h1 ? ring + (size_t)(iy % 3) * row + (size_t)cb * a->w1 * 16
                                          : NULL;
            if (r[ky]) {
                rv[nr] = r[ky];
                wv[nr++] = w + ky * 3;
            }
        }
        const dnnl_dim_t at = a->ly.off0 + cb * a->ly.sc + (dnnl_dim_t)oy * a->ly.sy;
        for (int ox = 0; ox < x0; ox++)
            dw_fwd_store(a, at + (dnnl_dim_t)ox * 16, dw_fwd_edge(a, r, w, b, ox));
        int ox = x0;
        for (; ox + 4 <= x1; ox += 4) {
            __m512 q0 = b, q1 = b, q2 = b, q3 = b;
            for (int k = 0; k < nr; k++) {
                const float *s = rv[k] + (size_t)(2 * ox - a->pl) * 16;
                for (int kx = 0; kx < 3; kx++) {
                    const __m512 t = wv[k][kx];
                    q0 = _mm512_fmadd_ps(_mm512_loadu_ps(s + (0 + kx) * 16), t, q0);
                    q1 = _mm512_fmadd_ps(_mm512_loadu_ps(s + (2 + kx) * 16), t, q1);
                    q2 = _mm512_fmadd_ps(_mm512_loadu_ps(s + (4 + kx) * 16), t, q2);
                    q3 = _mm512_fmadd_ps(_mm512_loadu_ps(s + (6 + kx) * 16), t, q3);
                }
            }
            dw_fwd_store(a, at + (dnnl_dim_t)ox * 16, q0);
            dw_fwd_store(a, at + (dnnl_dim_t)(ox + 1) * 16, q1);
            dw_fwd_store(a, at + (dnnl_dim_t)(ox + 2) * 16, q2);
            dw_fwd_store(a, at + (dnnl_dim_t)(ox + 3) * 16, q3);
        }
        for (; ox < a->w2; ox++)
            dw_fwd_store(a, at + (dnnl_dim_t)ox * 16, dw_fwd_edge(a, r, w, b, ox));
    }
}

/* Input column ix's gradient (block cb), every tap checked (the edges). */
static inline __m512 dw_bwd_edge(const dw_args *a, const float *const g[3], const __m512 *w, int ix)
{
    __m512 acc = _mm512_setzero_ps();
    for (int ky = 0; ky < 3; ky++) {
        if (!g[ky])
            continue;
        for (int kx = 0; kx < 3; kx++) {
            const int u = ix + a->pl - kx;
            if (u >= 0 && u % 2 == 0 && u / 2 < a->w2)
                acc = _mm512_fmadd_ps(_mm512_loadu_ps(g[ky] + (size_t)(u / 2) * 16), w[ky * 3 + kx],
                                      acc);
        }
    }
    return acc;
}

/* Row iy of the 1x1 activation's gradient, pixel-major in stage
 * (eng_pwdw_stride(o) floats a pixel): the depthwise backward-data of d's
 * gradient, summed over the taps (ky, kx) that reach each pixel in that
 * order, times the 1x1 activation's derivative. */
static void dw_bwd_row(const dw_args *a, int iy, float *restrict stage)
{
    const size_t hw = (size_t)a->h1 * a->w1, S = (size_t)eng_pwdw_stride(a->o);
    /* Kernel rows reaching row iy: oy = (iy + pt - ky) / 2 when whole and inside. */
    int oy[3];
    for (int ky = 0; ky < 3; ky++) {
        int t = iy + a->pt - ky;
        oy[ky] = t >= 0 && t % 2 == 0 && t / 2 < a->h2 ? t / 2 : -1;
    }
    /* Columns whose taps all land inside: u = ix + pl in [2, 2 w2), starting even. */
    int x0 = 2 - a->pl, x1 = 2 * a->w2 - a->pl;
    clip_range(&x0, &x1, a->w1);
    for (int cb = 0; cb < a->o / 16; cb++) {
        __m512 w[9];
        dw_taps_of(a->taps, a->o, cb, w);
        const float *g[3], *gv[3];
        const __m512 *wv[3];
        int nr = 0;
        for (int ky = 0; ky < 3; ky++) {
            g[ky] = oy[ky] >= 0 ? a->g + a->lg.off0 + cb * a->lg.sc + (dnnl_dim_t)oy[ky] * a->lg.sy
                                : NULL;
            if (g[ky]) {
                gv[nr] = g[ky];
                wv[nr++] = w + ky * 3;
            }
        }
        const uint16_t *bits = a->bits + cb * hw + (size_t)iy * a->w1;
        float *out = stage + cb * 16;
        for (int ix = 0; ix < x0; ix++)
            _mm512_storeu_ps(out + (size_t)ix * S,
                             _mm512_maskz_mov_ps(bits[ix], dw_bwd_edge(a, g, w, ix)));
        int ix = x0;
        /* Pairs: ix (u even) takes kx 0 at u / 2 and kx 2 at u / 2 - 1;
         * ix + 1 (u odd) takes kx 1 at u / 2. */
        for (; ix + 4 <= x1; ix += 4) {
            const int c = (ix + a->pl) / 2;
            __m512 q0 = _mm512_setzero_ps(), q1 = q0, q2 = q0, q3 = q0;
            for (int k = 0; k < nr; k++) {
                const float *s = gv[k] + (size_t)(c - 1) * 16;
                const __m512 s0 = _mm512_loadu_ps(s), s1 = _mm512_loadu_ps(s + 16),
                             s2 = _mm512_loadu_ps(s + 32);
                q0 = _mm512_fmadd_ps(s1, wv[k][0], q0);
                q0 = _mm512_fmadd_ps(s0, wv[k][2], q0);
                q1 = _mm512_fmadd_ps(s1, wv[k][1], q1);
                q2 = _mm512_fmadd_ps(s2, wv[k][0], q2);
                q2 = _mm512_fmadd_ps(s1, wv[k][2], q2);
                q3 = _mm512_fmadd_ps(s2, wv[k][1], q3);
            }
            _mm512_storeu_ps(out + (size_t)ix * S, _mm512_maskz_mov_ps(bits[ix], q0));
            _mm512_storeu_ps(out + (size_t)(ix + 1) * S, _mm512_maskz_mov_ps(bits[ix + 1], q1));
            _mm512_storeu_ps(out + (size_t)(ix + 2) * S, _mm512_maskz_mov_ps(bits[ix + 2], q2));
            _mm512_storeu_ps(out + (size_t)(ix + 3) * S, _mm512_maskz_mov_ps(bits[ix + 3], q3));
        }
        for (; ix < a->w1; ix++)
            _mm512_storeu_ps(out + (size_t)ix * S,
                             _mm512_maskz_mov_ps(bits[ix], dw_bwd_edge(a, g, w, ix)));
    }
}
/* The stride-1 depthwise j before the 1x1 (fuse_pre, fuse_pre_bwd). */
typedef struct pre_args {
    int h, w, c; /* j's rows, columns, channels (= its input s's) */
    const float *taps, *bias;
    float hi;       /* ReLU6: 6, ReLU: infinity */
    const float *x; /* s's activation, layout lx (unless a head makes its rows) */
    eng_layout lx;
    float *gx; /* s's gradient, layout lgx (unless a head takes its rows) */
    eng_layout lgx;
    const uint8_t *mask;  /* s's derivative as bytes (s's activation layout), */
    const uint16_t *bits; /* or as bits ([c / 16][h * w]), or neither */
} pre_args;

static void pre_setup(const gd_engine *e, int j, pre_args *a)
{
    const gd_node *n = &e->model->nodes[j];
    const int s = n->inputs[0];
    *a = (pre_args){.h = e->nodes[j].shape.h,
                    .w = e->nodes[j].shape.w,
                    .c = e->nodes[j].shape.c,
                    .taps = e->nodes[j].taps,
                    .bias = n->bias,
                    .hi = n->act == GD_ACT_RELU6 ? 6.0f : INFINITY,
                    .x = e->bufs[e->nodes[s].act_buf].ptr};
    eng_blocked16(&e->nodes[s].md, a->w, &a->lx);
    if (e->nodes[s].diff_buf >= 0) {
        a->gx = e->bufs[e->nodes[s].diff_buf].ptr;
        eng_blocked16(&e->nodes[s].dmd, a->w, &a->lgx);
    }
    if (e->nodes[s].bits_buf >= 0)
        a->bits = e->bufs[e->nodes[s].bits_buf].ptr;
    else if (e->nodes[s].mask_buf >= 0)
        a->mask = e->bufs[e->nodes[s].mask_buf].ptr;
}

/*
 * Four output pixels x .. x + 3 of a 3x3 stride-1 sum over rows r[0..2]
 * (NULL: outside), every column inside: q[k] += r[ky][x + k + dir (kx - 1)]
 * w[ky * 3 + kx] in (ky, kx) order; dir 1 is the forward's correlation,
 * -1 the backward-data's.
 */
static inline __attribute__((always_inline)) void
s1_four(const float *const r[3], const __m512 w[9], int x, const int dir, __m512 q[4])
{
    for (int ky = 0; ky < 3; ky++) {
        if (!r[ky])
            continue;
        for (int kx = 0; kx < 3; kx++) {
            const float *s = r[ky] + (size_t)(x + dir * (kx - 1)) * 16;
            const __m512 t = w[ky * 3 + kx];
            q[0] = _mm512_fmadd_ps(_mm512_loadu_ps(s), t, q[0]);
            q[1] = _mm512_fmadd_ps(_mm512_loadu_ps(s + 16), t, q[1]);
            q[2] = _mm512_fmadd_ps(_mm512_loadu_ps(s + 32), t, q[2]);
            q[3] = _mm512_fmadd_ps(_mm512_loadu_ps(s + 48), t, q[3]);
        }
    }
}

/* One output pixel x, columns checked against [0, w). */
static inline __attribute__((always_inline)) __m512
s1_one(const float *const r[3], const __m512 w[9], int x, int width, const int dir, __m512 q)
{
    for (int ky = 0; ky < 3; ky++) {
        if (!r[ky])
            continue;
        for (int kx = 0; kx < 3; kx++) {
            const int u = x + dir * (kx - 1);
            if (u >= 0 && u < width)
                q = _mm512_fmadd_ps(_mm512_loadu_ps(r[ky] + (size_t)u * 16), w[ky * 3 + kx], q);
        }
    }
    return q;
}

/* Row y of j's activation into xrow ([c / 16][w][16]): bias, taps, clip;
 * its input's rows from s's activation or, when set, the head's ring (row
 * r at ring + (r % 3) * w * c, [c / 16][w][16]). */
static void pre_fwd_row(const pre_args *a, const float *ring, int y, float *restrict xrow)
{
    const __m512 zero = _mm512_setzero_ps(), hi = _mm512_set1_ps(a->hi);
    for (int cb = 0; cb < a->c / 16; cb++) {
        __m512 w[9];
        dw_taps_of(a->taps, a->c, cb, w);
        const __m512 b = _mm512_loadu_ps(a->bias + cb * 16);
        const float *r[3];
        for (int ky = 0; ky < 3; ky++) {
            const int iy = y - 1 + ky;
            if (iy < 0 || iy >= a->h)
                r[ky] = NULL;
            else if (ring)
                r[ky] = ring + ((size_t)(iy % 3) * a->c + (size_t)cb * 16) * a->w;
            else
                r[ky] = a->x + a->lx.off0 + cb * a->lx.sc + (dnnl_dim_t)iy * a->lx.sy;
        }
        float *out = xrow + (size_t)cb * a->w * 16;
        int x = 0;
        for (; x < 1 && x < a->w; x++)
            _mm512_storeu_ps(out,
                             _mm512_min_ps(_mm512_max_ps(s1_one(r, w, 0, a->w, 1, b), zero), hi));
        for (; x + 4 <= a->w - 1; x += 4) {
            __m512 q[4] = {b, b, b, b};
            s1_four(r, w, x, 1, q);
            for (int k = 0; k < 4; k++)
                _mm512_storeu_ps(out + (size_t)(x + k) * 16,
                                 _mm512_min_ps(_mm512_max_ps(q[k], zero), hi));
        }
        for (; x < a->w; x++)
            _mm512_storeu_ps(out + (size_t)x * 16,
                             _mm512_min_ps(_mm512_max_ps(s1_one(r, w, x, a->w, 1, b), zero), hi));
    }
}

/* Row y of s's gradient: j's backward-data from the ring's rows of j's
 * gradient (row r at ring + (r % 3) * w * c, [c / 16][w][16]), times s's
 * derivative; stored, or, when out is set, put there for a head's backward:
 * pixel x's channel block cb at out + x * px + cb * cs. */
static void pre_bwd_row(const pre_args *a, const float *ring, int y, float *restrict out, size_t px,
                        size_t cs)
{
    const size_t row = (size_t)a->w * a->c;
    const uint16_t *bits = a->bits ? a->bits + (size_t)y * a->w : NULL;
    for (int cb = 0; cb < a->c / 16; cb++) {
        __m512 w[9];
        dw_taps_of(a->taps, a->c, cb, w);
        const float *r[3];
        for (int ky = 0; ky < 3; ky++) {
            const int gy = y + 1 - ky;
            r[ky] = gy >= 0 && gy < a->h ? ring + (size_t)(gy % 3) * row + (size_t)cb * a->w * 16
                                         : NULL;
        }
        const dnnl_dim_t at = a->lgx.off0 + cb * a->lgx.sc + (dnnl_dim_t)y * a->lgx.sy;
        const dnnl_dim_t am = a->lx.off0 + cb * a->lx.sc + (dnnl_dim_t)y * a->lx.sy;
        __m512 q[4];
        for (int x = 0; x < a->w;) {
            int n = 1;
            if (x >= 1 && x + 4 <= a->w - 1) {
                q[0] = q[1] = q[2] = q[3] = _mm512_setzero_ps();
                s1_four(r, w, x, -1, q);
                n = 4;
            } else {
                q[0] = s1_one(r, w, x, a->w, -1, _mm512_setzero_ps());
            }
            for (int k = 0; k < n; k++, x++) {
                __m512 v = q[k];
                if (bits) {
                    v = _mm512_maskz_mov_ps(bits[(size_t)cb * a->h * a->w + x], v);
                } else if (a->mask) {
                    __m128i m =
                        _mm_loadu_si128((const __m128i *)(a->mask + am + (dnnl_dim_t)x * 16));
                    v = _mm512_maskz_mov_ps(_mm_test_epi8_mask(m, m), v);
                }
                if (out)
                    _mm512_storeu_ps(out + (size_t)x * px + cb * cs, v);
                else
                    _mm512_storeu_ps(a->gx + at + (dnnl_dim_t)x * 16, v);
            }
        }
    }
}
#pragma GCC pop_options

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Either loop's arguments for its stride-2 node d and stride-1 node j (or
 * -1); returns the threads to run: no more than the rows were planned for,
 * nor than asked for now. */
static int run_setup(const gd_engine *e, int d, int j, dw_args *a, pre_args *pa)
{
    dw_setup(e, d, a);
    if (j >= 0)
        pre_setup(e, j, pa);
    const int threads = omp_get_max_threads();
    return threads < e->pwdw_threads ? threads : e->pwdw_threads;
}
#endif

void eng_pwdw_fwd_run(gd_engine *e, int p)
{
#ifdef HAVE_PWDW
    dw_args a;
    pre_args pa;
    const int threads = run_setup(e, e->nodes[p].fuse_fwd.dw, e->nodes[p].fuse_fwd.pre, &a, &pa);
    const int pre = e->nodes[p].fuse_fwd.pre >= 0, head = e->nodes[p].fuse_fwd.head;
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
                    if (head == e->stem_fwd)
                        eng_stem_fwd_row(e, head, hnext, hring + (size_t)(hnext % 3) * xrow,
                                         hnext >= r0 && hnext < r1);
                    else
                        eng_pw_fwd_row(e, head, hnext, NULL, hring + (size_t)(hnext % 3) * xrow,
                                       hnext >= r0 && hnext < r1);
                if (pre)
                    pre_fwd_row(&pa, hring, next, x);
                eng_pw_fwd_row(e, p, next, x, ring + (size_t)(next % 3) * row, next < r1);
            }
            if (oy < oy1)
                dw_fwd_row(&a, ring, oy);
        }
    }
#else
    (void)e;
    (void)p;
#endif
}

void eng_dwpw_bwd_run(gd_engine *e, int p)
{
#ifdef HAVE_PWDW
    dw_args a;
    pre_args pa;
    const int threads = run_setup(e, e->nodes[p].fuse_bwd.dw, e->nodes[p].fuse_bwd.pre, &a, &pa);
    const int pre = e->nodes[p].fuse_bwd.pre >= 0, head = e->nodes[p].fuse_bwd.head;
    const int stem = head >= 0 && head == e->stem_fwd;
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
        if (!pre) {
#pragma omp for schedule(static)
            for (int iy = 0; iy < a.h1; iy++) {
                dw_bwd_row(&a, iy, st);
                eng_pw_bwd_row(e, p, iy, st, NULL);
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
                    dw_bwd_row(&a, next, st);
                    eng_pw_bwd_row(e, p, next, st, ring + (size_t)(next % 3) * row);
                }
                if (stem) {
                    pre_bwd_row(&pa, ring, y, hst, 16, (size_t)a.w1 * 16);
                    eng_stem_bwd_row(e, head, y, hst, z, zp, y >= y0);
                    float *swap = z;
                    z = zp;
                    zp = swap;
                } else if (head >= 0) {
                    pre_bwd_row(&pa, ring, y, hst, (size_t)eng_pwdw_stride(pa.c), 16);
                    eng_pw_bwd_row(e, head, y, hst, NULL);
                } else {
                    pre_bwd_row(&pa, ring, y, NULL, 0, 0);
                }
            }
        }
    }
#else
    (void)e;
    (void)p;
#endif
}
