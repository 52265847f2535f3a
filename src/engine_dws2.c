/*
 * engine_dws2.c: a stride-2 depthwise convolution's backward-data with its
 * input's ReLU / ReLU6 backward in the same pass (contract in
 * engine_internal.h, "Folded activations").
 *
 * A ReLU6 read by a stride-2 depthwise convolution cannot be folded the
 * engine_mask.c way (a stride-2 backward-data is no forward convolution, and
 * oneDNN's backward primitives take no post-ops), so it used to cost two
 * passes over the input's gradient: oneDNN's depthwise backward writes it,
 * an eltwise backward reads it again with the activation and writes it once
 * more.  Here one loop does both, a row at a time: a chunk of the row of
 * the input's gradient is summed in L1 from the taps that reach it,
 * multiplied by the activation's derivative (read off the activation, as
 * oneDNN's "use dst" backward does) and written once.
 *
 * Measured on a 576 x 576 MobileNet V1 tile to Conv2d_9_pointwise (its
 * three stride-2 depthwise layers): 2.3 ms here against 1.6 + 1.1 ms for
 * oneDNN's backward and eltwise; backward 18.24 -> 17.77 ms, forward +
 * backward 34.43 -> 33.91 ms (means of 8 alternating runs).  Streaming
 * stores made it slower (34.4 -> 35.6 ms): the next convolution then reads
 * the gradient from memory instead of the cache.
 *
 * Row iy of the input gets, from kernel row ky, the gradient row
 * oy = (iy + pt - ky) / 2 when that is a whole number inside the output;
 * likewise columns.  Each element is summed over (ky, kx) in increasing
 * order, then zeroed where the activation's derivative is 0: the same
 * result for any thread count.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "gigadream/error.h"

/* The three layouts of node i's step, when the loop can address them. */
static int layouts(const gd_engine *e, int i, eng_layout *dy, eng_layout *y, eng_layout *dx)
{
    int j = e->model->nodes[i].inputs[0];
    const dnnl_memory_desc_t *m[3] = {&e->dmd[i], &e->md[j], &e->dmd[j]};
    eng_layout *l[3] = {dy, y, dx};
    for (int k = 0; k < 3; k++) {
        for (int d = 0; d < m[k]->ndims; d++)
            if (m[k]->padded_dims[d] != m[k]->dims[d])
                return 0;
        if (!eng_layout_of(m[k], l[k]) || l[k]->bf16 || l[k]->cblk != l[0]->cblk)
            return 0;
    }
    /* The gradient's rows dense: a chunk of a row is one copy. */
    return (dy->cblk == 8 || dy->cblk == 16) && dx->sx == dx->cblk;
}

int eng_dws2_fusable(const gd_engine *e, int i)
{
    const gd_node *n = &e->model->nodes[i];
    if (e->dt != dnnl_f32 || n->op != GD_OP_CONV || n->n_inputs != 1 || n->sh != 2 || n->sw != 2 ||
        n->dh != 1 || n->dw != 1)
        return 0;
    int j = n->inputs[0];
    gd_shape in = e->shapes[j];
    if (n->groups != in.c || n->out_c != in.c)
        return 0;
    const gd_node *p = &e->model->nodes[j];
    if (j <= 0 || p->op != GD_OP_CONV || (p->act != GD_ACT_RELU && p->act != GD_ACT_RELU6) ||
        e->diff_started[j] || eng_consumers(e, j) != 1 || e->act_buf[j] < 0 || !e->diff[i])
        return 0;
    for (int q = 0; q < e->n_outputs; q++)
        if (e->outputs[q] == j)
            return 0;
    eng_layout dy, y, dx;
    if (!layouts(e, i, &dy, &y, &dx) || in.c % dy.cblk)
        return 0;
    int pt, pb, pl, pr;
    gd_node_padding(n, in, &pt, &pb, &pl, &pr);
    return pt >= 0 && pl >= 0;
}

gd_status eng_dws2_plan(gd_engine *e, int i, gd_err *err)
{
    const gd_node *n = &e->model->nodes[i];
    const int j = n->inputs[0], c = e->shapes[j].c, kk = n->kh * n->kw;
    eng_layout dy, y, dx;
    if (!layouts(e, i, &dy, &y, &dx))
        return gd_err_set(err, GD_ELIB, "node '%s': depthwise backward layouts changed", n->name);
    const int b = dy.cblk;
    /* Weights [c][ky][kx] (the model's, groups = c) -> [c / b][ky][kx][b]. */
    float *t = gd_malloc((size_t)c * kk * sizeof *t, "depthwise backward weights", err);
    if (!t)
        return err->status;
    for (int ch = 0; ch < c; ch++)
        for (int k = 0; k < kk; k++)
            t[((size_t)(ch / b) * kk + k) * b + ch % b] = n->weights[(size_t)ch * kk + k];
    free(e->tw[i]);
    e->tw[i] = t;
    gd_status st =
        eng_step_own(&e->bwd, i, ENG_STEP_DW_S2, "depthwise backward with activation", err);
    if (st != GD_OK)
        return st;
    e->diff_started[j] = 1;
    e->act_fused[j] = ENG_FOLD_KERNEL;
    return GD_OK;
}

/* What a row of the loop reads and writes. */
typedef struct dws2_args {
    const float *dy, *act, *w;
    float *dx;
    eng_layout ldy, lact, ldx;
    int in_h, in_w, out_h, out_w, kh, kw, pt, pl, blk;
    float hi;
} dws2_args;

/* Pixels of a row summed at a time: 16 KB of 16-channel blocks, in L1. */
#define DWS2_CHUNK 256

/* o += w * s over one block of B channels. */
static inline __attribute__((always_inline)) void tap(float *restrict o, const float *restrict w,
                                                      const float *restrict s, const int B)
{
#pragma omp simd
    for (int l = 0; l < B; l++)
        o[l] += w[l] * s[l];
}

/* o = the derivative of y's activation (0 or 1) times o, over one block. */
static inline __attribute__((always_inline)) void derive(float *restrict o, const float *restrict y,
                                                         float hi, const int B)
{
#pragma omp simd
    for (int l = 0; l < B; l++)
        o[l] = (y[l] > 0.0f && y[l] < hi) ? o[l] : 0.0f;
}

/*
 * acc = columns [x0, x1) of row iy of channel block cb (B channels a block,
 * a constant once inlined): the sum of the taps that reach each, times the
 * derivative of the input's activation there.
 */
static inline __attribute__((always_inline)) void chunk(const dws2_args *a, int cb, int iy, int x0,
                                                        int x1, float *restrict acc, const int B)
{
    const int kk = a->kh * a->kw;
    const dnnl_dim_t sxi = a->ldy.sx, sxa = a->lact.sx;
#pragma omp simd
    for (int k = 0; k < (x1 - x0) * B; k++)
        acc[k] = 0.0f;
    for (int ky = 0; ky < a->kh; ky++) {
        int t = iy + a->pt - ky;
        if (t < 0 || (t & 1) || t / 2 >= a->out_h)
            continue;
        const float *row = a->dy + a->ldy.off0 + cb * a->ldy.sc + (t / 2) * a->ldy.sy;
        for (int kx = 0; kx < a->kw; kx++) {
            const float *w = a->w + ((size_t)cb * kk + ky * a->kw + kx) * B;
            /* Output columns ox with ix = 2 ox + kx - pl inside [x0, x1). */
            int lo = x0 + a->pl - kx > 0 ? (x0 + a->pl - kx + 1) / 2 : 0;
            int last = x1 - 1 + a->pl - kx; /* 2 ox at most */
            int hi = last >= 0 ? last / 2 + 1 : 0;
            if (hi > a->out_w)
                hi = a->out_w;
            for (int ox = lo; ox < hi; ox++)
                tap(acc + (2 * ox + kx - a->pl - x0) * B, w, row + ox * sxi, B);
        }
    }
    const float *y = a->act + a->lact.off0 + cb * a->lact.sc + iy * a->lact.sy;
    for (int ix = x0; ix < x1; ix++)
        derive(acc + (ix - x0) * B, y + ix * sxa, a->hi, B);
}

/* Row iy of channel block cb, a chunk at a time, each copied out once. */
static inline __attribute__((always_inline)) void row(const dws2_args *a, int cb, int iy)
{
    float acc[DWS2_CHUNK * 16] __attribute__((aligned(64)));
    float *out = a->dx + a->ldx.off0 + cb * a->ldx.sc + iy * a->ldx.sy;
    for (int x0 = 0; x0 < a->in_w; x0 += DWS2_CHUNK) {
        int x1 = x0 + DWS2_CHUNK < a->in_w ? x0 + DWS2_CHUNK : a->in_w;
        if (a->blk == 16)
            chunk(a, cb, iy, x0, x1, acc, 16);
        else
            chunk(a, cb, iy, x0, x1, acc, 8);
        memcpy(out + (size_t)x0 * a->blk, acc, sizeof(float) * (size_t)(x1 - x0) * a->blk);
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
/* The same loop for AVX-512: the same products and sums (no contraction
 * under -std=c11), so the same bits. */
__attribute__((target("avx512f"))) static void row_avx512(const dws2_args *a, int cb, int iy)
{
    row(a, cb, iy);
}
#define HAVE_ROW_AVX512 1
#endif

static void row_default(const dws2_args *a, int cb, int iy)
{
    row(a, cb, iy);
}

void eng_dws2_run(gd_engine *e, int i)
{
    const gd_node *n = &e->model->nodes[i];
    const int j = n->inputs[0];
    gd_shape in = e->shapes[j], out = e->shapes[i];
    dws2_args a = {.dy = e->bufs[e->diff_buf[i]].ptr,
                   .act = e->bufs[e->act_buf[j]].ptr,
                   .w = e->tw[i],
                   .dx = e->bufs[e->diff_buf[j]].ptr,
                   .in_h = in.h,
                   .in_w = in.w,
                   .out_h = out.h,
                   .out_w = out.w,
                   .kh = n->kh,
                   .kw = n->kw,
                   .hi = e->model->nodes[j].act == GD_ACT_RELU6 ? 6.0f : INFINITY};
    int pb, pr;
    gd_node_padding(n, in, &a.pt, &pb, &a.pl, &pr);
    /* Checked when planned (eng_dws2_fusable); the layouts never change after. */
    (void)layouts(e, i, &a.ldy, &a.lact, &a.ldx);
    a.blk = a.ldy.cblk;
    const int rows = in.c / a.blk * in.h;
    void (*run)(const dws2_args *, int, int) = row_default;
#ifdef HAVE_ROW_AVX512
    if (__builtin_cpu_supports("avx512f"))
        run = row_avx512;
#endif
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++)
        run(&a, r / in.h, r % in.h);
}
