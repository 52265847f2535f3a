/*
 * engine_pwdw.c: a 1x1 convolution and the stride-2 3x3 depthwise
 * convolution that reads it, run together a row at a time, forward and
 * backward (contract in engine_internal.h, "1x1 and stride-2 depthwise").
 *
 * MobileNet V1's Conv2d_1_pointwise makes the largest tensor of the
 * network (64 channels at half the tile's side: 21 MB on a 576 x 576 tile)
 * and only Conv2d_2_depthwise, stride 2, reads it.  Layer by layer, that
 * tensor goes to memory and back twice: the 1x1 forward writes it and the
 * depthwise forward reads it; the depthwise backward-data writes its
 * gradient and the 1x1 backward reads it.  Those four steps were 3.4 ms of
 * the tile's ~29, waiting on memory more than computing.  Here neither the
 * tensor nor its gradient exists:
 *   - forward: each thread takes a range of the depthwise output rows and
 *     computes the 1x1 rows they need into a ring of three rows (in cache),
 *     the depthwise row from them (bias first, then the taps in (ky, kx)
 *     order, skipping the padding), clipped, stored, and its byte mask
 *     written on the way when the next layer folds it (engine_mask.c).  The
 *     1x1 rows are engine_pw.c's loop, writing the derivative bits of its
 *     activation and of its input as before; the one row two threads both
 *     need is computed by both and kept (bits) by one.
 *   - backward: each thread takes whole rows of the 1x1 layer's gradient:
 *     the depthwise backward-data of the row, summed over the taps (ky, kx)
 *     that reach it in that order, times the 1x1 activation's derivative,
 *     into a staging row in cache, from which engine_pw.c's loop sums the
 *     1x1 backward and writes the input's gradient.
 * Every element is one thread's sum in a fixed order: the same bytes for
 * any thread count.  The depthwise sums round differently from oneDNN's.
 *
 * Measured on a 576 x 576 MobileNet V1 tile to Conv2d_9_pointwise, 2
 * threads: the pair's forward 1.44 -> ~1.1 ms, its backward 1.99 -> ~0.95
 * ms (the 1x1 backward's sums now run at ~95% of the FMA peak: its input
 * is in cache); scripts/bench-engine.sh --tile 576, 3 alternating runs of
 * 20: forward + backward 31.97-32.12 -> 30.63-31.23 ms; the renderer's
 * peak memory on jobs/bench-2048.ini 387 -> 357 MB.
 *
 * Only: f32; the 1x1 node's forward is ours already (engine_pw.c) and the
 * depthwise node is its one reader, groups = channels = a multiple of 16
 * up to ENG_PWDW_MAX_O, 3x3, stride 2, no dilation, padding before at most
 * 1, a bias, ReLU, ReLU6 or no activation, 16-channel blocked layouts with
 * dense rows.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "gigadream/error.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_PWDW 1
#endif

/* Depthwise node d's shape (see above), reading p = its input. */
static int dw_shape(const gd_engine *e, int d)
{
#ifdef HAVE_PWDW
    const gd_node *n = &e->model->nodes[d];
    if (e->dt != dnnl_f32 || n->op != GD_OP_CONV || n->n_inputs != 1 || !n->bias)
        return 0;
    const int p = n->inputs[0];
    if (p <= 0 || !e->wt_fwd[p] || e->bits_buf[p] < 0)
        return 0;
    gd_shape in = e->shapes[p], out = e->shapes[d];
    if (n->groups != in.c || n->out_c != in.c || in.c % 16 || in.c > ENG_PWDW_MAX_O || n->kh != 3 ||
        n->kw != 3 || n->sh != 2 || n->sw != 2 || n->dh != 1 || n->dw != 1 ||
        (n->act != GD_ACT_NONE && n->act != GD_ACT_RELU && n->act != GD_ACT_RELU6))
        return 0;
    int pt, pb, pl, pr;
    gd_node_padding(n, in, &pt, &pb, &pl, &pr);
    if (pt > 1 || pl > 1 || out.h != (in.h + pt + pb - 3) / 2 + 1 ||
        out.w != (in.w + pl + pr - 3) / 2 + 1)
        return 0;
    eng_layout l;
    return eng_blocked16(&e->md[d], out.w, &l);
#else
    (void)e;
    (void)d;
    return 0;
#endif
}

/* d's kernel as [ky * 3 + kx][channel] (the model's is [channel][1][3][3]),
 * and the per-thread rows both loops use. */
static gd_status plan_common(gd_engine *e, int d, size_t floats_per_thread, gd_err *err)
{
    const gd_node *n = &e->model->nodes[d];
    const int o = n->out_c;
    if (!e->dw_taps[d]) {
        float *t = gd_malloc((size_t)9 * o * sizeof *t, "depthwise taps", err);
        if (!t)
            return err->status;
        for (int c = 0; c < o; c++)
            for (int k = 0; k < 9; k++)
                t[(size_t)k * o + c] = n->weights[(size_t)c * 9 + k];
        e->dw_taps[d] = t;
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

int eng_pwdw_fwd_ok(const gd_engine *e, int d, dnnl_memory_t src)
{
    if (!dw_shape(e, d))
        return 0;
    const int p = e->model->nodes[d].inputs[0];
    const eng_step_list *l = &e->fwd;
    return src == e->act[p] && l->n > 0 && l->v[l->n - 1].kind == ENG_STEP_PW_FWD &&
           l->v[l->n - 1].node == p && e->fuse_dw[p] < 0;
}

gd_status eng_pwdw_fwd_plan(gd_engine *e, int d, gd_err *err)
{
    const int p = e->model->nodes[d].inputs[0];
    gd_shape in = e->shapes[p];
    gd_status st = plan_common(e, d, (size_t)3 * in.w * in.c, err);
    if (st != GD_OK)
        return st;
    e->fuse_dw[p] = d;
    e->fwd.v[e->fwd.n - 1].what = "1x1 and stride-2 depthwise forward";
    /* Nothing reads p's activation now (its backward reads its bits). */
    e->bufs[e->act_buf[p]].bytes = 0;
    return GD_OK;
}

gd_status eng_pwdw_bwd_plan(gd_engine *e, int d, int *fused, gd_err *err)
{
    *fused = 0;
    if (!dw_shape(e, d))
        return GD_OK;
    const int p = e->model->nodes[d].inputs[0];
    eng_layout l;
    if (!e->diff[d] || !eng_blocked16(&e->dmd[d], e->shapes[d].w, &l) || eng_consumers(e, p) != 1)
        return GD_OK;
    e->fuse_dw_bwd[p] = d;
    if (!eng_pw_fusable(e, p)) {
        e->fuse_dw_bwd[p] = -1;
        return GD_OK;
    }
    gd_status st = plan_common(e, d, (size_t)e->shapes[p].w * ENG_PWDW_STRIDE, err);
    if (st != GD_OK)
        return st;
    /* p's backward step reads diff[d]: p's own gradient is never made. */
    e->diff_started[p] = 1;
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
    gd_node_padding(n, e->shapes[p], &pt, &pb, &pl, &pr);
    *a = (dw_args){.h1 = e->shapes[p].h,
                   .w1 = e->shapes[p].w,
                   .o = n->out_c,
                   .h2 = e->shapes[d].h,
                   .w2 = e->shapes[d].w,
                   .pt = pt,
                   .pl = pl,
                   .taps = e->dw_taps[d],
                   .bias = n->bias,
                   .lo = n->act == GD_ACT_NONE ? -INFINITY : 0.0f,
                   .hi = n->act == GD_ACT_RELU6 ? 6.0f : INFINITY,
                   .bits = e->bufs[e->bits_buf[p]].ptr};
    if (e->act_buf[d] >= 0 && e->bufs[e->act_buf[d]].ptr) {
        a->y = e->bufs[e->act_buf[d]].ptr;
        eng_blocked16(&e->md[d], a->w2, &a->ly);
    }
    if (e->mask_buf[d] >= 0)
        a->mask = e->bufs[e->mask_buf[d]].ptr;
    if (e->diff[d] && e->diff_buf[d] >= 0) {
        a->g = e->bufs[e->diff_buf[d]].ptr;
        eng_blocked16(&e->dmd[d], a->w2, &a->lg);
    }
}

/* Block cb's 9 taps, and [*x0, *x1) clipped to [0, n) (x0 <= x1). */
static inline void dw_taps_of(const dw_args *a, int cb, __m512 w[9])
{
    for (int k = 0; k < 9; k++)
        w[k] = _mm512_loadu_ps(a->taps + (size_t)k * a->o + cb * 16);
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
        dw_taps_of(a, cb, w);
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
 * (ENG_PWDW_STRIDE floats a pixel): the depthwise backward-data of d's
 * gradient, summed over the taps (ky, kx) that reach each pixel in that
 * order, times the 1x1 activation's derivative. */
static void dw_bwd_row(const dw_args *a, int iy, float *restrict stage)
{
    const size_t hw = (size_t)a->h1 * a->w1;
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
        dw_taps_of(a, cb, w);
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
            _mm512_storeu_ps(out + (size_t)ix * ENG_PWDW_STRIDE,
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
            _mm512_storeu_ps(out + (size_t)ix * ENG_PWDW_STRIDE, _mm512_maskz_mov_ps(bits[ix], q0));
            _mm512_storeu_ps(out + (size_t)(ix + 1) * ENG_PWDW_STRIDE,
                             _mm512_maskz_mov_ps(bits[ix + 1], q1));
            _mm512_storeu_ps(out + (size_t)(ix + 2) * ENG_PWDW_STRIDE,
                             _mm512_maskz_mov_ps(bits[ix + 2], q2));
            _mm512_storeu_ps(out + (size_t)(ix + 3) * ENG_PWDW_STRIDE,
                             _mm512_maskz_mov_ps(bits[ix + 3], q3));
        }
        for (; ix < a->w1; ix++)
            _mm512_storeu_ps(out + (size_t)ix * ENG_PWDW_STRIDE,
                             _mm512_maskz_mov_ps(bits[ix], dw_bwd_edge(a, g, w, ix)));
    }
}
#pragma GCC pop_options

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}
#endif

void eng_pwdw_fwd_run(gd_engine *e, int p)
{
#ifdef HAVE_PWDW
    dw_args a;
    dw_setup(e, e->fuse_dw[p], &a);
    const size_t per = (size_t)3 * a.w1 * a.o, row = (size_t)a.w1 * a.o;
    float *scratch = e->bufs[e->pwdw_buf].ptr;
    int threads = omp_get_max_threads();
    if (threads > e->pwdw_threads)
        threads = e->pwdw_threads;
#pragma omp parallel num_threads(threads)
    {
        const int nt = omp_get_num_threads(), t = omp_get_thread_num();
        float *ring = scratch + per * t;
        const int oy0 = (int)((int64_t)a.h2 * t / nt), oy1 = (int)((int64_t)a.h2 * (t + 1) / nt);
        /* The 1x1 rows whose bits this thread keeps: they partition [0, h1). */
        const int r0 = t == 0 ? 0 : clampi(2 * oy0 - a.pt, 0, a.h1);
        const int r1 = t == nt - 1 ? a.h1 : clampi(2 * oy1 - a.pt, 0, a.h1);
        int next = r0;
        for (int oy = oy0; oy < oy1; oy++) {
            const int need = 2 * oy - a.pt + 3 < a.h1 ? 2 * oy - a.pt + 3 : a.h1;
            for (; next < need; next++)
                eng_pw_fwd_row(e, p, next, ring + (size_t)(next % 3) * row, next < r1);
            dw_fwd_row(&a, ring, oy);
        }
        for (; next < r1; next++)
            eng_pw_fwd_row(e, p, next, ring + (size_t)(next % 3) * row, 1);
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
    dw_setup(e, e->fuse_dw_bwd[p], &a);
    float *scratch = e->bufs[e->pwdw_buf].ptr;
    int threads = omp_get_max_threads();
    if (threads > e->pwdw_threads)
        threads = e->pwdw_threads;
#pragma omp parallel num_threads(threads)
    {
        float *stage = scratch + (size_t)a.w1 * ENG_PWDW_STRIDE * omp_get_thread_num();
#pragma omp for schedule(static)
        for (int iy = 0; iy < a.h1; iy++) {
            dw_bwd_row(&a, iy, stage);
            eng_pw_bwd_row(e, p, iy, stage);
        }
    }
#else
    (void)e;
    (void)p;
#endif
}
