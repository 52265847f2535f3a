/*
 * engine_stem.c: the first convolution's backward-data, straight into the
 * pixel gradient, in one pass of ours (contract in engine_internal.h,
 * "Own first-convolution backward").
 *
 * MobileNet's first convolution (and most ImageNet stems) is a 3x3
 * stride-2 kernel over the 3 image channels.  engine_backward.c runs its
 * backward in space-to-depth form through oneDNN (12 channels out, which
 * oneDNN's blocked kernels pad to 16 and run at ~100 GFLOP/s: 1.36 ms of a
 * 576 x 576 tile), then engine.c's pixel loop unfolds those 12 channels
 * into the NHWC pixel gradient.  Here, per output row oy, the 27 taps of
 * every output pixel are one small product, Z[ox][t] = sum over the output
 * channels o of g[o][oy][ox] W[o][t] (t = (ky * 3 + kx) * C + c, 12 pixels
 * at a time in 24 AVX-512 accumulators), and the image rows it reaches are
 * gathered from Z: pixel (2 oy + ky, 2 ox + kx) gets tap (ky, kx) of
 * (oy, ox), so an even image row takes ky 0 of row oy and ky 2 of row
 * oy - 1, an odd one ky 1 of row oy; columns likewise.  Each thread owns a
 * range of output rows (recomputing the row before it), so every element is
 * the same sum in the same order for any thread count:
 *     ((Z[oy][ox] + Z[oy][ox - 1]) + (Z[oy - 1][ox] + Z[oy - 1][ox - 1])) * s[c]
 * with the terms that exist, s the normalization's scale.
 *
 * Only: stride 2, 3x3, no dilation, groups 1, no padding before (TF SAME on
 * even sides: padding after only), at most 3 input channels, output
 * channels a multiple of 16, f32 in a 16-channel blocked layout with dense
 * rows, and a CPU where oneDNN may use AVX-512.
 *
 * The forward of the same convolution is ours too (eng_stem_fwd_ok): 12
 * pixels x 32 channels in 24 accumulators, bias first, then the 27 taps of
 * the planar input in order; clipped, stored, and, when its reader's
 * backward folds the activation, its byte mask written on the way, which
 * saves the mask pass over the 10.6 MB activation (engine_mask.c):
 * 0.46-0.56 ms against oneDNN's 0.46 plus the pass's 0.16 on a 576 x 576
 * V1 tile; forward 15.46 -> 15.18 ms (6 alternating runs).
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "gigadream/error.h"

#define STEM_T ENG_STEM_Z /* taps per output pixel, padded: 9 x 3 channels at most */
#define STEM_MAX_OW 1024  /* widest output row (2048-pixel tiles) */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_STEM 1
#endif

/* Node i's gradient layout, when the loop can address it. */
static int grad_layout(const gd_engine *e, int i, eng_layout *l)
{
    return eng_blocked16(&e->nodes[i].dmd, e->nodes[i].shape.w, l);
}

/* Convolution i's shape for either loop: f32, reading the input, 3x3,
 * stride 2, no dilation, groups 1, at most 3 input and 16k output channels,
 * the input's sides twice i's, no padding before; AVX-512 allowed. */
static int stem_shape(const gd_engine *e, int i)
{
#ifdef HAVE_STEM
    const gd_node *n = &e->model->nodes[i];
    gd_shape in = e->nodes[0].shape, out = e->nodes[i].shape;
    if (e->dt != dnnl_f32 || n->op != GD_OP_CONV || n->n_inputs != 1 || n->inputs[0] != 0 ||
        n->groups != 1 || n->kh != 3 || n->kw != 3 || n->sh != 2 || n->sw != 2 || n->dh != 1 ||
        n->dw != 1 || in.c > 3 || out.c % 16 || out.h * 2 != in.h || out.w * 2 != in.w ||
        out.w > STEM_MAX_OW)
        return 0;
    int pt, pb, pl, pr;
    gd_node_padding(n, in, &pt, &pb, &pl, &pr);
    if (pt || pl)
        return 0;
    return eng_own_isa(e);
#else
    (void)e;
    (void)i;
    return 0;
#endif
}

int eng_stem_ok(const gd_engine *e, int i)
{
    return e->nodes[i].diff && eng_stem_rows_ok(e, i);
}

int eng_stem_rows_ok(const gd_engine *e, int i)
{
    if (!stem_shape(e, i) || e->nodes[0].diff_started || eng_consumers(e, 0) != 1)
        return 0;
    for (int k = 0; k < e->n_outputs; k++)
        if (e->outputs[k] == 0)
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
        !eng_layout_of(&e->nodes[0].md, &x) || x.bf16 || x.cblk != 1 || x.sx != 1 ||
        x.sy != (dnnl_dim_t)e->w || !eng_blocked16(&e->nodes[i].md, e->nodes[i].shape.w, &y))
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
    float *t = gd_calloc((size_t)o * STEM_T, sizeof *t, "first convolution weights", err);
    if (!t)
        return err->status;
    for (int q = 0; q < o; q++)
        for (int ch = 0; ch < c; ch++)
            for (int k = 0; k < 9; k++)
                t[(size_t)q * STEM_T + k * c + ch] = n->weights[((size_t)q * c + ch) * 9 + k];
    free(e->nodes[i].wt_bwd);
    e->nodes[i].wt_bwd = t;
    e->stem = 1;
    e->nodes[0].diff_started = 1;
    return GD_OK;
}

gd_status eng_stem_plan(gd_engine *e, int i, gd_err *err)
{
    gd_status st = eng_stem_bwd_prepare(e, i, err);
    if (st != GD_OK)
        return st;
    /* Two rows of Z per thread. */
    e->stem_threads = omp_get_max_threads();
    if (e->stem_threads < 1)
        e->stem_threads = 1;
    size_t bytes = (size_t)e->stem_threads * 2 * e->nodes[i].shape.w * STEM_T * sizeof(float);
    if ((e->stem_buf = eng_buf_new(e, bytes, err)) < 0)
        return err->status;
    return eng_step_own(&e->bwd, i, ENG_STEP_STEM, "first convolution backward", err);
}

#ifdef HAVE_STEM
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,fma")

typedef struct stem_args {
    const float *g, *w, *scale; /* node i's gradient, weights [o][32], per channel scale */
    float *px;                  /* pixel gradient, NHWC */
    eng_layout lg;
    int o, c, ow, iw;
} stem_args;

#define STEM_P 12
#define STEM_AHEAD 2 /* blocks prefetched ahead */
#define STEM_EACH(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)

/* Z of output row oy, pixels [x0, x0 + STEM_P). */
static void z_block(const stem_args *a, int oy, int x0, float *restrict z)
{
#define STEM_ACC(p) __m512 u##p = _mm512_setzero_ps(), v##p = _mm512_setzero_ps();
    STEM_EACH(STEM_ACC)
    const float *w = a->w;
    for (int ob = 0; ob < a->o / 16; ob++) {
        const float *g = a->g + a->lg.off0 + ob * a->lg.sc + oy * a->lg.sy + (dnnl_dim_t)x0 * 16;
        /* The gradient lines of the block STEM_AHEAD on (576x576 V1 tile:
         * 0.73-0.76 -> 0.66 ms; 1 or 4 blocks on gained less). */
        if (x0 + (STEM_AHEAD + 1) * STEM_P <= a->ow)
            for (int p = 0; p < STEM_P; p++)
                _mm_prefetch((const char *)(g + (STEM_AHEAD * STEM_P + p) * 16), _MM_HINT_T0);
        for (int k = 0; k < 16; k++, g++, w += STEM_T) {
            const __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + 16);
#define STEM_FMA(p)                                                                                \
    do {                                                                                           \
        __m512 b = _mm512_set1_ps(g[(p)*16]);                                                      \
        u##p = _mm512_fmadd_ps(b, w0, u##p);                                                       \
        v##p = _mm512_fmadd_ps(b, w1, v##p);                                                       \
    } while (0);
            STEM_EACH(STEM_FMA)
        }
    }
#define STEM_OUT(p)                                                                                \
    _mm512_storeu_ps(z + (x0 + (p)) * STEM_T, u##p);                                               \
    _mm512_storeu_ps(z + (x0 + (p)) * STEM_T + 16, v##p);
    STEM_EACH(STEM_OUT)
#undef STEM_ACC
#undef STEM_FMA
#undef STEM_OUT
}

/* Z of output row oy, all ow pixels. */
static void z_row(const stem_args *a, int oy, float *restrict z)
{
    int x = 0;
    for (; x + STEM_P <= a->ow; x += STEM_P)
        z_block(a, oy, x, z);
    for (; x < a->ow; x++) {
        __m512 u = _mm512_setzero_ps(), v = _mm512_setzero_ps();
        for (int q = 0; q < a->o; q++) {
            const float *g = a->g + a->lg.off0 + (q / 16) * a->lg.sc + oy * a->lg.sy + x * 16;
            __m512 b = _mm512_set1_ps(g[q % 16]);
            u = _mm512_fmadd_ps(b, _mm512_loadu_ps(a->w + (size_t)q * STEM_T), u);
            v = _mm512_fmadd_ps(b, _mm512_loadu_ps(a->w + (size_t)q * STEM_T + 16), v);
        }
        _mm512_storeu_ps(z + x * STEM_T, u);
        _mm512_storeu_ps(z + x * STEM_T + 16, v);
    }
}

/*
 * Kernel row ky of Z row z, as an image row's 2 ow pixels x c channels: for
 * columns 2 ox and 2 ox + 1, taps (ky, 0) and (ky, 1) of ox (2c floats in a
 * row of z) plus, on the even column, tap (ky, 2) of ox - 1.
 */
static inline __m512 z_pair(const float *z, int ox, int ky, int c)
{
    const __mmask16 two = (__mmask16)((1u << (2 * c)) - 1), one = (__mmask16)((1u << c) - 1);
    __m512 r = _mm512_maskz_loadu_ps(two, z + ox * STEM_T + ky * 3 * c);
    if (ox > 0)
        r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(one, z + (ox - 1) * STEM_T + (ky * 3 + 2) * c));
    return r;
}

/* Image row y from z (kernel row ky) and, when zp, z_prev (kernel row 2). */
static void image_row(const stem_args *a, const float *z, int ky, const float *zp, int y)
{
    const int c = a->c;
    const __mmask16 two = (__mmask16)((1u << (2 * c)) - 1);
    float s[16] = {0};
    for (int k = 0; k < 2 * c; k++)
        s[k] = a->scale[k % c];
    const __m512 sv = _mm512_loadu_ps(s);
    float *out = a->px + (size_t)y * a->iw * c;
    for (int ox = 0; ox < a->ow; ox++) {
        __m512 r = z_pair(z, ox, ky, c);
        if (zp)
            r = _mm512_add_ps(r, z_pair(zp, ox, 2, c));
        _mm512_mask_storeu_ps(out + (size_t)ox * 2 * c, two, _mm512_mul_ps(r, sv));
    }
}

static void stem(const stem_args *a, int oh, float *buf, int threads)
{
#pragma omp parallel num_threads(threads)
    {
        const int nt = omp_get_num_threads(), t = omp_get_thread_num();
        const int y0 = (int)((long)oh * t / nt), y1 = (int)((long)oh * (t + 1) / nt);
        float *z = buf + (size_t)t * 2 * a->ow * STEM_T, *zp = z + (size_t)a->ow * STEM_T;
        if (y0 > 0 && y0 < y1)
            z_row(a, y0 - 1, zp);
        for (int oy = y0; oy < y1; oy++) {
            z_row(a, oy, z);
            image_row(a, z, 0, oy > 0 ? zp : NULL, 2 * oy);
            image_row(a, z, 1, NULL, 2 * oy + 1);
            float *swap = z;
            z = zp;
            zp = swap;
        }
    }
}
/* What the forward loop reads and writes. */
typedef struct stemf_args {
    const float *x, *w, *bias; /* node 0 (planar), weights [9 c][o], bias [o] */
    float *y;                  /* i's activation, layout ly */
    uint8_t *mask;             /* its derivative (i's activation layout lm), or NULL */
    eng_layout lx, ly, lm;
    int c, o, oh, ow, ih, iw;
    float lo, hi; /* the activation's clip: [0, 6], [0, inf) or none */
} stemf_args;

/* Pixel (oy, x0 + p), channel block ob: stored, clipped, with its mask. */
static inline void stemf_store(const stemf_args *a, int oy, int x, int ob, __m512 r)
{
    const __m512 lo = _mm512_set1_ps(a->lo), hi = _mm512_set1_ps(a->hi);
    r = _mm512_min_ps(_mm512_max_ps(r, lo), hi);
    const dnnl_dim_t at = a->ly.off0 + ob * a->ly.sc + oy * a->ly.sy + (dnnl_dim_t)x * 16;
    _mm512_storeu_ps(a->y + at, r);
    if (a->mask) {
        const dnnl_dim_t am = a->lm.off0 + ob * a->lm.sc + oy * a->lm.sy + (dnnl_dim_t)x * 16;
        __mmask16 k =
            _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(r, lo, _CMP_GT_OQ), r, hi, _CMP_LT_OQ);
        _mm_storeu_si128((__m128i *)(a->mask + am), _mm_maskz_mov_epi8(k, _mm_set1_epi8(1)));
    }
}

/*
 * STEM_P pixels of row oy from x0, 32 output channels from og * 32: bias,
 * then the 9 c taps in order.  Taps past the image's bottom or right (TF
 * SAME pads only after) add nothing.
 */
static inline __attribute__((always_inline)) void stemf_pixels(const stemf_args *a, int oy, int x0,
                                                               int og, const int edge)
{
    const __m512 b0 = _mm512_loadu_ps(a->bias + og * 32),
                 b1 = _mm512_loadu_ps(a->bias + og * 32 + 16);
#define STEMF_ACC(p) __m512 u##p = b0, v##p = b1;
    STEM_EACH(STEMF_ACC)
    for (int ky = 0; ky < 3; ky++) {
        const int iy = 2 * oy + ky;
        if (iy >= a->ih)
            continue;
        for (int kx = 0; kx < 3; kx++)
            for (int ch = 0; ch < a->c; ch++) {
                const float *w = a->w + ((size_t)(ky * 3 + kx) * a->c + ch) * a->o + og * 32;
                const __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + 16);
                const float *x = a->x + a->lx.off0 + ch * a->lx.sc + iy * a->lx.sy + 2 * x0 + kx;
                const int last = edge && kx == 2 ? a->ow - 1 - x0 : STEM_P; /* pixels with tap */
#define STEMF_FMA(p)                                                                               \
    if ((p) < last) {                                                                              \
        __m512 b = _mm512_set1_ps(x[2 * (p)]);                                                     \
        u##p = _mm512_fmadd_ps(b, w0, u##p);                                                       \
        v##p = _mm512_fmadd_ps(b, w1, v##p);                                                       \
    }
                STEM_EACH(STEMF_FMA)
            }
    }
#define STEMF_OUT(p)                                                                               \
    stemf_store(a, oy, x0 + (p), og * 2, u##p);                                                    \
    stemf_store(a, oy, x0 + (p), og * 2 + 1, v##p);
    STEM_EACH(STEMF_OUT)
#undef STEMF_ACC
#undef STEMF_FMA
#undef STEMF_OUT
}

/* A block; edge: it holds the last column, whose kx = 2 is padding. */
static void stemf_block(const stemf_args *a, int oy, int x0, int og)
{
    if (x0 + STEM_P >= a->ow)
        stemf_pixels(a, oy, x0, og, 1);
    else
        stemf_pixels(a, oy, x0, og, 0);
}

/* One pixel (oy, x), channel blocks from ob0: the same sums as stemf_block. */
static void stemf_one(const stemf_args *a, int oy, int x, int ob0)
{
    for (int ob = ob0; ob < a->o / 16; ob++) {
        __m512 r = _mm512_loadu_ps(a->bias + ob * 16);
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++)
                for (int ch = 0; ch < a->c; ch++) {
                    const int iy = 2 * oy + ky, ix = 2 * x + kx;
                    if (iy >= a->ih || ix >= a->iw)
                        continue;
                    const float *w = a->w + ((size_t)(ky * 3 + kx) * a->c + ch) * a->o + ob * 16;
                    r = _mm512_fmadd_ps(
                        _mm512_set1_ps(a->x[a->lx.off0 + ch * a->lx.sc + iy * a->lx.sy + ix]),
                        _mm512_loadu_ps(w), r);
                }
        stemf_store(a, oy, x, ob, r);
    }
}
#pragma GCC pop_options
#endif

#ifdef HAVE_STEM
static void stemf_setup(const gd_engine *e, int i, stemf_args *a)
{
    const gd_node *n = &e->model->nodes[i];
    *a = (stemf_args){.x = e->bufs[e->nodes[0].act_buf].ptr,
                      .w = e->nodes[i].wt_fwd,
                      .bias = n->bias,
                      .y = e->bufs[e->nodes[i].act_buf].ptr,
                      .mask = e->nodes[i].mask_buf >= 0 ? e->bufs[e->nodes[i].mask_buf].ptr : NULL,
                      .c = e->nodes[0].shape.c,
                      .o = n->out_c,
                      .oh = e->nodes[i].shape.h,
                      .ow = e->nodes[i].shape.w,
                      .ih = e->h,
                      .iw = e->w,
                      .lo = n->act == GD_ACT_NONE ? -INFINITY : 0.0f,
                      .hi = n->act == GD_ACT_RELU6 ? 6.0f : INFINITY};
    eng_layout_of(&e->nodes[0].md, &a->lx);
    eng_blocked16(&e->nodes[i].md, e->nodes[i].shape.w, &a->ly);
    a->lm = a->ly;
}

/* Output row oy, every pixel and channel. */
static void stemf_row(const stemf_args *a, int oy)
{
    const int per_row = a->ow / STEM_P, groups = a->o / 32;
    for (int b = 0; b < per_row; b++)
        for (int og = 0; og < groups; og++)
            stemf_block(a, oy, b * STEM_P, og);
    if (a->o % 32) /* the blocks' last 16 channels */
        for (int x = 0; x < per_row * STEM_P; x++)
            stemf_one(a, oy, x, 2 * groups);
    for (int x = per_row * STEM_P; x < a->ow; x++) /* the row's tail: every channel */
        stemf_one(a, oy, x, 0);
}
#endif

void eng_stem_fwd_row(const gd_engine *e, int i, int oy, float *dst, int keep_mask)
{
#ifdef HAVE_STEM
    stemf_args a;
    stemf_setup(e, i, &a);
    a.y = dst;
    a.ly = (eng_layout){.off0 = 0, .sc = (dnnl_dim_t)a.ow * 16, .sy = 0, .sx = 16, .cblk = 16};
    if (!keep_mask)
        a.mask = NULL;
    stemf_row(&a, oy);
#else
    (void)e;
    (void)i;
    (void)oy;
    (void)dst;
    (void)keep_mask;
#endif
}

void eng_stem_fwd_run(gd_engine *e, int i)
{
#ifdef HAVE_STEM
    stemf_args a;
    stemf_setup(e, i, &a);
#pragma omp parallel for schedule(static)
    for (int oy = 0; oy < a.oh; oy++)
        stemf_row(&a, oy);
#else
    (void)e;
    (void)i;
#endif
}

void eng_stem_bwd_row(const gd_engine *e, int i, int oy, const float *g, float *z, const float *zp,
                      int write)
{
#ifdef HAVE_STEM
    const gd_node *n = &e->model->nodes[i];
    const int ow = e->nodes[i].shape.w;
    stem_args a = {.g = g,
                   .w = e->nodes[i].wt_bwd,
                   .scale = e->model->norm_scale,
                   .px = e->grad,
                   .lg = {.off0 = 0, .sc = (dnnl_dim_t)ow * 16, .sy = 0, .sx = 16, .cblk = 16},
                   .o = n->out_c,
                   .c = e->nodes[0].shape.c,
                   .ow = ow,
                   .iw = e->w};
    z_row(&a, oy, z);
    if (!write)
        return;
    image_row(&a, z, 0, oy > 0 ? zp : NULL, 2 * oy);
    image_row(&a, z, 1, NULL, 2 * oy + 1);
#else
    (void)e;
    (void)i;
    (void)oy;
    (void)g;
    (void)z;
    (void)zp;
    (void)write;
#endif
}

void eng_stem_run(gd_engine *e, int i)
{
#ifdef HAVE_STEM
    const gd_node *n = &e->model->nodes[i];
    stem_args a = {.g = e->bufs[e->nodes[i].diff_buf].ptr,
                   .w = e->nodes[i].wt_bwd,
                   .scale = e->model->norm_scale,
                   .px = e->grad,
                   .o = n->out_c,
                   .c = e->nodes[0].shape.c,
                   .ow = e->nodes[i].shape.w,
                   .iw = e->w};
    grad_layout(e, i, &a.lg);
    /* No more threads than the buffer has rows for, nor than asked for now. */
    int threads = omp_get_max_threads();
    stem(&a, e->nodes[i].shape.h, e->bufs[e->stem_buf].ptr,
         threads < e->stem_threads ? threads : e->stem_threads);
#else
    (void)e;
    (void)i;
#endif
}
